/* WebSocket handshake and framing: SHA-1 vectors (FIPS 180 examples), base64 (RFC 4648), the RFC
 * 6455 sample key, header tokens, frame parsing (the RFC's example frames, lengths, limits,
 * protocol errors, incremental input) and randomized write/parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "server/http/websocket.h"
#include "tests/unit/prop.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_sha1(const char *msg, size_t n, const char *want)
{
    uint8_t d[WS_SHA1_BYTES];
    char h[41];
    ws_sha1(msg, n, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, want);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    check_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha1(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* one million 'a', fed in uneven pieces */
    struct ws_sha1 s;
    char a[997];
    memset(a, 'a', sizeof a);
    ws_sha1_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof a ? left : sizeof a;
        ws_sha1_update(&s, a, k);
        left -= k;
    }
    uint8_t d[WS_SHA1_BYTES];
    char h[41];
    ws_sha1_final(&s, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* lengths around the padding boundary agree with byte-at-a-time hashing */
    for (size_t n = 50; n < 70; n++) {
        uint8_t d1[WS_SHA1_BYTES], d2[WS_SHA1_BYTES];
        ws_sha1(a, n, d1);
        ws_sha1_init(&s);
        for (size_t i = 0; i < n; i++)
            ws_sha1_update(&s, a + i, 1);
        ws_sha1_final(&s, d2);
        assert_memory_equal(d1, d2, sizeof d1);
    }
}

static void test_base64(void **state)
{
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[32];
    for (int i = 0; i < 7; i++) {
        size_t n = ws_base64_encode((const uint8_t *)in[i], strlen(in[i]), out);
        assert_int_equal(n, strlen(want[i]));
        assert_string_equal(out, want[i]);
    }
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    /* RFC 6455 §1.3 */
    assert_int_equal(ws_accept_key(STR_LIT("dGhlIHNhbXBsZSBub25jZQ=="), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key(STR_LIT(""), out), ERR_INVALID);
    assert_int_equal(ws_accept_key(STR_LIT("dGhlIHNhbXBsZSBub25jZQ="), out), ERR_INVALID);
    assert_int_equal(ws_accept_key(STR_LIT("dGhlIHNhbXBsZSBub25jZ*=="), out), ERR_INVALID);
    assert_int_equal(ws_accept_key(STR_LIT("dGhlIHNhbXBsZSBub25jZQ==x"), out), ERR_INVALID);
}

static void test_header_tokens(void **state)
{
    (void)state;
    assert_true(ws_header_has_token(STR_LIT("Upgrade"), "upgrade"));
    assert_true(ws_header_has_token(STR_LIT("keep-alive, Upgrade"), "upgrade"));
    assert_true(ws_header_has_token(STR_LIT(" keep-alive ,  UPGRADE  "), "upgrade"));
    assert_false(ws_header_has_token(STR_LIT("keep-alive"), "upgrade"));
    assert_false(ws_header_has_token(STR_LIT("upgraded"), "upgrade"));
    assert_false(ws_header_has_token(STR_LIT(""), "upgrade"));
    assert_true(ws_header_has_token(STR_LIT("websocket"), "websocket"));
}

static void test_rfc_examples(void **state)
{
    (void)state;
    struct ws_frame f;
    /* RFC 6455 §5.7: a single-frame unmasked text message "Hello" */
    static const uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    assert_int_equal(ws_frame_parse(unmasked, sizeof unmasked, false, 1024, &f), 7);
    assert_true(f.fin);
    assert_int_equal(f.opcode, WS_OP_TEXT);
    assert_int_equal(f.payload_len, 5);
    assert_int_equal(f.header_len, 2);
    assert_int_equal(ws_frame_parse(unmasked, sizeof unmasked, true, 1024, &f), ERR_CORRUPT);
    /* a masked "Hello" */
    uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_int_equal(ws_frame_parse(masked, sizeof masked, true, 1024, &f), 11);
    assert_true(f.masked);
    ws_mask(masked + f.header_len, 5, f.mask, 0);
    assert_memory_equal(masked + 6, "Hello", 5);
    /* fragmented: "Hel" then "lo" */
    static const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
    static const uint8_t frag2[] = {0x80, 0x02, 0x6c, 0x6f};
    assert_int_equal(ws_frame_parse(frag1, sizeof frag1, false, 1024, &f), 5);
    assert_false(f.fin);
    assert_int_equal(ws_frame_parse(frag2, sizeof frag2, false, 1024, &f), 4);
    assert_int_equal(f.opcode, WS_OP_CONT);
    /* our writer reproduces the unmasked example and the 256-byte / 64 KiB headers */
    struct buf b;
    buf_init(&b);
    assert_int_equal(ws_frame_write(&b, WS_OP_TEXT, true, "Hello", 5), 0);
    assert_memory_equal(b.data, unmasked, sizeof unmasked);
    buf_reset(&b);
    static uint8_t big[65536];
    assert_int_equal(ws_frame_write(&b, WS_OP_BINARY, true, big, 256), 0);
    static const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    assert_memory_equal(b.data, h256, 4);
    buf_reset(&b);
    assert_int_equal(ws_frame_write(&b, WS_OP_BINARY, true, big, 65536), 0);
    static const uint8_t h64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(b.data, h64k, 10);
    assert_int_equal(ws_frame_parse(b.data, b.len, false, 1 << 20, &f), 65546);
    assert_int_equal(ws_frame_parse(b.data, b.len, false, 65535, &f), ERR_LIMIT);
    buf_deinit(&b);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    struct ws_frame f;
    static const uint8_t rsv[] = {0xC1, 0x80, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse(rsv, sizeof rsv, true, 100, &f), ERR_CORRUPT);
    static const uint8_t op3[] = {0x83, 0x80, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse(op3, sizeof op3, true, 100, &f), ERR_CORRUPT);
    static const uint8_t opb[] = {0x8B, 0x80, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse(opb, sizeof opb, true, 100, &f), ERR_CORRUPT);
    static const uint8_t frag_ping[] = {0x09, 0x80, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse(frag_ping, sizeof frag_ping, true, 100, &f), ERR_CORRUPT);
    static const uint8_t long_close[] = {0x88, 0xFE, 0, 126};
    assert_int_equal(ws_frame_parse(long_close, sizeof long_close, true, 1000, &f), ERR_CORRUPT);
    static const uint8_t nonmin16[] = {0x81, 0xFE, 0, 5};
    assert_int_equal(ws_frame_parse(nonmin16, sizeof nonmin16, true, 1000, &f), ERR_CORRUPT);
    static const uint8_t nonmin64[] = {0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 200};
    assert_int_equal(ws_frame_parse(nonmin64, sizeof nonmin64, true, 1000, &f), ERR_CORRUPT);
    static const uint8_t top[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(top, sizeof top, true, UINT64_MAX, &f), ERR_CORRUPT);
    /* close payloads */
    static const uint8_t c1000[] = {0x03, 0xE8}, c1005[] = {0x03, 0xED}, c4000[] = {0x0F, 0xA0};
    assert_int_equal(ws_close_code(NULL, 0), 0);
    assert_int_equal(ws_close_code(c1000, 1), ERR_CORRUPT);
    assert_int_equal(ws_close_code(c1000, 2), 1000);
    assert_int_equal(ws_close_code(c1005, 2), ERR_CORRUPT);
    assert_int_equal(ws_close_code(c4000, 2), 4000);
}

static void test_incremental(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    uint8_t mask[4] = {9, 8, 7, 6};
    char payload[300];
    memset(payload, 'x', sizeof payload);
    assert_int_equal(ws_frame_write_masked(&b, WS_OP_TEXT, true, mask, payload, 300), 0);
    struct ws_frame f;
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(ws_frame_parse(b.data, n, true, 1000, &f), 0);
    assert_int_equal(ws_frame_parse(b.data, b.len, true, 1000, &f), (int64_t)b.len);
    buf_deinit(&b);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    struct prop p = prop_begin("ws_round_trip");
    struct buf b;
    buf_init(&b);
    static uint8_t payload[70000];
    for (int it = 0; it < 300; it++) {
        size_t n = (size_t)(prop_next(&p) % 3 == 0 ? prop_next(&p) % 70000 : prop_next(&p) % 300);
        uint8_t op =
            (uint8_t[]){WS_OP_TEXT, WS_OP_BINARY, WS_OP_CONT, WS_OP_PING}[prop_next(&p) % 4];
        if (op == WS_OP_PING && n > WS_CONTROL_PAYLOAD_MAX)
            n = WS_CONTROL_PAYLOAD_MAX;
        bool fin = op == WS_OP_PING || (prop_next(&p) & 1);
        for (size_t i = 0; i < n; i++)
            payload[i] = (uint8_t)prop_next(&p);
        uint64_t m = prop_next(&p);
        uint8_t mask[4];
        memcpy(mask, &m, 4);
        buf_reset(&b);
        prop_check(&p, ws_frame_write_masked(&b, op, fin, mask, payload, n) == 0);
        struct ws_frame f;
        prop_check(&p, ws_frame_parse(b.data, b.len, true, 1 << 20, &f) == (int64_t)b.len);
        prop_check(&p, f.opcode == op && f.fin == fin && f.payload_len == n);
        /* unmask in two pieces at an arbitrary split */
        size_t split = n ? (size_t)(prop_next(&p) % n) : 0;
        ws_mask(b.data + f.header_len, split, f.mask, 0);
        ws_mask(b.data + f.header_len + split, n - split, f.mask, split);
        prop_check(&p, n == 0 || memcmp(b.data + f.header_len, payload, n) == 0);
    }
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors), cmocka_unit_test(test_base64),
        cmocka_unit_test(test_accept_key),   cmocka_unit_test(test_header_tokens),
        cmocka_unit_test(test_rfc_examples), cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_incremental),  cmocka_unit_test(test_round_trip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
