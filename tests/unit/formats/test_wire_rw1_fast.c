/* Remote write 1.0 fast-path decoder: gives exactly protobuf-c's message for bodies of labels and
 * float samples (random requests, special floats, negative timestamps, empty and repeated fields),
 * leaves every other body to protobuf-c, and rw1_decode answers the same either way. */
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
#include "formats/wire/rw1_fast.h"
#include "tests/unit/prop.h"

static struct wire_decoder fast, slow;

static int setup(void **state)
{
    (void)state;
    wire_decoder_init(&fast, 64 << 20, 1u << 30);
    wire_decoder_init(&slow, 64 << 20, 1u << 30);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wire_decoder_deinit(&fast);
    wire_decoder_deinit(&slow);
    return 0;
}

static bool bytes_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* 0 when the fast path decoded body exactly as protobuf-c does, 1 when it left it to protobuf-c. */
static int compare(const uint8_t *body, size_t n)
{
    wire_decoder_reset(&fast);
    rw1_request *f = NULL;
    int rc = rw1_unpack_fast(&fast, body, n, &f);
    ProtobufCMessage *m = NULL;
    int src = wire_unpack(&slow, &prometheus__write_request__descriptor, body, n, &m);
    if (rc)
        return rc;
    assert_int_equal(src, 0);
    const rw1_request *s = (const rw1_request *)m;
    assert_int_equal(f->n_timeseries, s->n_timeseries);
    for (size_t i = 0; i < s->n_timeseries; i++) {
        const rw1_series *x = f->timeseries[i], *y = s->timeseries[i];
        assert_int_equal(x->n_labels, y->n_labels);
        assert_int_equal(x->n_samples, y->n_samples);
        for (size_t k = 0; k < y->n_labels; k++) {
            assert_true(bytes_eq(x->labels[k]->name, y->labels[k]->name));
            assert_true(bytes_eq(x->labels[k]->value, y->labels[k]->value));
        }
        for (size_t k = 0; k < y->n_samples; k++) {
            assert_memory_equal(&x->samples[k]->value, &y->samples[k]->value, 8);
            assert_int_equal(x->samples[k]->timestamp, y->samples[k]->timestamp);
        }
    }
    return 0;
}

static void test_random_requests(void **state)
{
    (void)state;
    struct prop p = prop_begin("rw1_fast_random");
    static const uint64_t specials[] = {0x7ff0000000000002ull /* stale */, 0x7ff8000000000001ull,
                                        0x8000000000000000ull /* -0 */, 0x7ff0000000000000ull};
    for (int iter = 0; iter < 300; iter++) {
        size_t n = prop_next(&p) % 40;
        struct rw_series ss[40];
        struct label ls[40][8];
        struct rw_sample sm[40][6];
        char text[40][8][2][12];
        for (size_t i = 0; i < n; i++) {
            size_t nl = prop_next(&p) % 8, ns = prop_next(&p) % 6;
            for (size_t k = 0; k < nl; k++) {
                snprintf(text[i][k][0], 12, "n%zu", k); /* sorted names */
                snprintf(text[i][k][1], 12, "%llx", (unsigned long long)(prop_next(&p) % 999));
                ls[i][k] = (struct label){str_from_cstr(text[i][k][0]),
                                          prop_next(&p) % 5 ? str_from_cstr(text[i][k][1])
                                                            : (struct str){"", 0}};
            }
            for (size_t k = 0; k < ns; k++) {
                uint64_t bits = prop_next(&p) % 4 ? prop_next(&p) : specials[prop_next(&p) % 4];
                memcpy(&sm[i][k].value, &bits, 8);
                sm[i][k].ts_ms = prop_next(&p) % 4 ? (int64_t)(prop_next(&p) % 2000000000000ull)
                                                   : -(int64_t)(prop_next(&p) % 100000);
            }
            ss[i] = (struct rw_series){ls[i], nl, sm[i], ns};
        }
        struct buf b;
        buf_init(&b);
        assert_int_equal(rw1_encode(ss, n, &b), 0);
        prop_check(&p, compare(b.data, b.len) == 0);
        /* every truncation is either decoded identically or left to protobuf-c */
        size_t cut = b.len ? prop_next(&p) % b.len : 0;
        int rc = compare(b.data, cut);
        prop_check(&p, rc == 0 || rc == 1);
        buf_deinit(&b);
    }
}

static void test_hand_made_bodies(void **state)
{
    (void)state;
    /* a label whose name field appears twice: the last one wins, as in protobuf-c */
    static const uint8_t dup[] = {0x0a, 0x0d, 0x0a, 0x09, 0x0a, 0x01, 0x61, 0x0a,
                                  0x01, 0x62, 0x12, 0x01, 0x76, 0x12, 0x00};
    assert_int_equal(compare(dup, sizeof dup), 0);
    /* a sample with its fields in reverse order and a 10-byte negative timestamp */
    static const uint8_t rev[] = {0x0a, 0x16, 0x12, 0x14, 0x10, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x09,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f};
    assert_int_equal(compare(rev, sizeof rev), 0);
    /* empty body, empty series */
    assert_int_equal(compare(NULL, 0), 0);
    static const uint8_t empty_series[] = {0x0a, 0x00};
    assert_int_equal(compare(empty_series, sizeof empty_series), 0);
    /* metadata, an exemplar, an unknown field, a wrong wire type: left to protobuf-c */
    static const uint8_t meta[] = {0x1a, 0x00};
    assert_int_equal(compare(meta, sizeof meta), 1);
    static const uint8_t exemplar[] = {0x0a, 0x02, 0x1a, 0x00};
    assert_int_equal(compare(exemplar, sizeof exemplar), 1);
    static const uint8_t unknown[] = {0x0a, 0x02, 0x28, 0x01};
    assert_int_equal(compare(unknown, sizeof unknown), 1);
    static const uint8_t wrong_type[] = {0x0a, 0x04, 0x12, 0x02, 0x08, 0x01};
    assert_int_equal(compare(wrong_type, sizeof wrong_type), 1);
}

static void test_decode_same_answers(void **state)
{
    (void)state;
    /* rw1_decode through the fast path validates as before */
    struct label bad[2] = {{STR_LIT("b"), STR_LIT("1")}, {STR_LIT("a"), STR_LIT("2")}};
    struct rw_sample s = {1000, 1};
    struct rw_series ss = {bad, 2, &s, 1};
    struct buf b;
    buf_init(&b);
    assert_int_equal(rw1_encode(&ss, 1, &b), 0);
    const rw1_request *req;
    assert_int_equal(rw1_decode(&fast, b.data, b.len, &req), ERR_INVALID);
    assert_non_null(strstr(wire_decoder_err(&fast), "sorted"));
    struct label good[2] = {{STR_LIT("__name__"), STR_LIT("up")}, {STR_LIT("job"), STR_LIT("x")}};
    ss.labels = good;
    buf_reset(&b);
    assert_int_equal(rw1_encode(&ss, 1, &b), 0);
    assert_int_equal(rw1_decode(&fast, b.data, b.len, &req), 0);
    assert_int_equal(req->n_timeseries, 1);
    assert_int_equal(req->timeseries[0]->samples[0]->timestamp, 1000);
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_requests),
        cmocka_unit_test(test_hand_made_bodies),
        cmocka_unit_test(test_decode_same_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
