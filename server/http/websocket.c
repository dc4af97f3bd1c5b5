/* WebSocket handshake and framing (RFC 6455), SHA-1 and base64 (see websocket.h). */
#include "server/http/websocket.h"

#include <string.h>

#include "base/error.h"

/* ---- SHA-1 ----------------------------------------------------------------------------------- */

static uint32_t rol32(uint32_t v, unsigned s)
{
    return (v << s) | (v >> (32 - s));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = be32_get(p + 4 * i);
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void ws_sha1_init(struct ws_sha1 *s)
{
    static const uint32_t iv[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->fill = 0;
}

void ws_sha1_update(struct ws_sha1 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            sha1_block(s->h, s->block);
            s->fill = 0;
        }
    }
}

void ws_sha1_final(struct ws_sha1 *s, uint8_t out[WS_SHA1_BYTES])
{
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80;
    ws_sha1_update(s, &pad, 1);
    pad = 0;
    while (s->fill != 56)
        ws_sha1_update(s, &pad, 1);
    uint8_t lenb[8];
    be64_put(lenb, bits);
    ws_sha1_update(s, lenb, 8);
    for (int i = 0; i < 5; i++)
        be32_put(out + 4 * i, s->h[i]);
}

void ws_sha1(const void *p, size_t n, uint8_t out[WS_SHA1_BYTES])
{
    struct ws_sha1 s;
    ws_sha1_init(&s);
    ws_sha1_update(&s, p, n);
    ws_sha1_final(&s, out);
}

/* ---- base64 ---------------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ws_base64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* ---- handshake ------------------------------------------------------------------------------- */

int ws_accept_key(struct str key, char out[WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    /* 16 bytes in base64: 22 characters then "==" */
    if (key.len != 24 || key.ptr[22] != '=' || key.ptr[23] != '=')
        return ERR_INVALID;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key.ptr[i]))
            return ERR_INVALID;
    struct ws_sha1 s;
    uint8_t d[WS_SHA1_BYTES];
    ws_sha1_init(&s);
    ws_sha1_update(&s, key.ptr, key.len);
    ws_sha1_update(&s, guid, sizeof guid - 1);
    ws_sha1_final(&s, d);
    ws_base64_encode(d, sizeof d, out);
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

bool ws_header_has_token(struct str v, const char *token)
{
    size_t tn = strlen(token), i = 0;
    while (i < v.len) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
            i++;
        size_t s = i;
        while (i < v.len && v.ptr[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
            e--;
        if (e - s == tn) {
            size_t k = 0;
            while (k < tn && lower(v.ptr[s + k]) == lower(token[k]))
                k++;
            if (k == tn)
                return true;
        }
    }
    return false;
}

/* ---- frames ---------------------------------------------------------------------------------- */

static bool opcode_known(uint8_t op)
{
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

int64_t ws_frame_parse(const uint8_t *p, size_t n, bool require_mask, uint64_t payload_max,
                       struct ws_frame *f)
{
    if (n < 2)
        return 0;
    if (p[0] & 0x70)
        return ERR_CORRUPT; /* RSV1-3 without a negotiated extension */
    f->fin = (p[0] & 0x80) != 0;
    f->opcode = p[0] & 0x0F;
    f->masked = (p[1] & 0x80) != 0;
    if (!opcode_known(f->opcode) || (require_mask && !f->masked))
        return ERR_CORRUPT;
    uint64_t len = p[1] & 0x7F;
    size_t h = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        if (len < 126)
            return ERR_CORRUPT; /* the minimal encoding is required */
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = be64_get(p + 2);
        if (len >> 63 || len <= 0xFFFF)
            return ERR_CORRUPT;
        h = 10;
    }
    if (f->opcode >= WS_OP_CLOSE && (!f->fin || len > WS_CONTROL_PAYLOAD_MAX))
        return ERR_CORRUPT;
    if (len > payload_max)
        return ERR_LIMIT;
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, p + h, 4);
        h += 4;
    } else {
        memset(f->mask, 0, 4);
    }
    f->header_len = h;
    f->payload_len = len;
    if (n - h < len)
        return 0;
    return (int64_t)(h + len);
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(off + i) & 3];
}

static int write_head(struct buf *out, uint8_t opcode, bool fin, bool masked, size_t n)
{
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    uint8_t mbit = masked ? 0x80 : 0;
    if (n < 126) {
        h[1] = (uint8_t)(mbit | n);
    } else if (n <= 0xFFFF) {
        h[1] = mbit | 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = mbit | 127;
        be64_put(h + 2, (uint64_t)n);
        hl = 10;
    }
    return buf_append(out, h, hl);
}

int ws_frame_write(struct buf *out, uint8_t opcode, bool fin, const void *payload, size_t n)
{
    size_t old = out->len;
    if (buf_reserve(out, n + 10) != 0)
        return ERR_NOMEM;
    int rc = write_head(out, opcode, fin, false, n);
    if (!rc && n)
        rc = buf_append(out, payload, n);
    if (rc)
        out->len = old;
    return rc;
}

int ws_frame_write_masked(struct buf *out, uint8_t opcode, bool fin, const uint8_t mask[4],
                          const void *payload, size_t n)
{
    size_t old = out->len;
    if (buf_reserve(out, n + 14) != 0)
        return ERR_NOMEM;
    int rc = write_head(out, opcode, fin, true, n);
    if (!rc)
        rc = buf_append(out, mask, 4);
    if (!rc && n) {
        rc = buf_append(out, payload, n);
        if (!rc)
            ws_mask(out->data + out->len - n, n, mask, 0);
    }
    if (rc)
        out->len = old;
    return rc;
}

int ws_close_code(const uint8_t *payload, size_t n)
{
    if (n == 0)
        return 0;
    if (n == 1)
        return ERR_CORRUPT;
    int code = payload[0] << 8 | payload[1];
    bool ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
              (code >= 3000 && code <= 4999);
    return ok ? code : ERR_CORRUPT;
}
