/* Fuzz target: the WebSocket frame parser as the connection drives it — a byte stream of client
 * frames parsed one after another (masked frames required, a payload bound), each payload
 * unmasked in two pieces, close payloads checked, and every accepted frame re-encoded and parsed
 * back identically. The first line of the input also goes through the handshake helpers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "server/http/websocket.h"

#define PAYLOAD_MAX (64 * 1024)

static void handshake(const uint8_t *data, size_t size)
{
    size_t n = 0;
    while (n < size && n < 64 && data[n] != '\n')
        n++;
    struct str s = {(const char *)data, n};
    char acc[WS_ACCEPT_LEN + 1];
    if (ws_accept_key(s, acc) == 0)
        ASSERT(strlen(acc) == WS_ACCEPT_LEN);
    (void)ws_header_has_token(s, "upgrade");
}

static void check_frame(uint8_t *p, const struct ws_frame *f)
{
    uint8_t *pl = p + f->header_len;
    size_t n = (size_t)f->payload_len, half = n / 2;
    ws_mask(pl, half, f->mask, 0);
    ws_mask(pl + half, n - half, f->mask, half);
    if (f->opcode == WS_OP_CLOSE)
        (void)ws_close_code(pl, n);
    struct buf b;
    buf_init(&b);
    if (ws_frame_write_masked(&b, f->opcode, f->fin, f->mask, pl, n) == 0) {
        struct ws_frame g;
        int64_t r = ws_frame_parse(b.data, b.len, true, PAYLOAD_MAX, &g);
        ASSERT(r == (int64_t)b.len && g.opcode == f->opcode && g.fin == f->fin &&
               g.payload_len == f->payload_len && memcmp(g.mask, f->mask, 4) == 0);
        ws_mask(b.data + g.header_len, n, g.mask, 0);
        ASSERT(n == 0 || memcmp(b.data + g.header_len, pl, n) == 0);
    }
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    handshake(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    size_t off = 0;
    while (off < size) {
        struct ws_frame f;
        int64_t r = ws_frame_parse(copy + off, size - off, true, PAYLOAD_MAX, &f);
        if (r <= 0)
            break;
        ASSERT((uint64_t)r == f.header_len + f.payload_len && (size_t)r <= size - off);
        check_frame(copy + off, &f);
        off += (size_t)r;
    }
    free(copy);
    return 0;
}
