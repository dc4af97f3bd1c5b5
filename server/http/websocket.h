/* The server side of the WebSocket protocol (RFC 6455): the opening handshake (validation of the
 * upgrade request and Sec-WebSocket-Accept, with the SHA-1 and base64 it needs), and the frame
 * format (a parser for client frames, which must be masked, and a writer for server frames, which
 * are not). Pure: no I/O; the connection (server/conn.c) owns the socket and buffers.
 *
 * Errors: corrupt frames from the peer are ERR_CORRUPT (protocol error: close 1002) or ERR_LIMIT
 * (payload above the caller's bound: close 1009); never an assert. */
#ifndef STRATA_SERVER_HTTP_WEBSOCKET_H
#define STRATA_SERVER_HTTP_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

/* ---- SHA-1 (FIPS 180-4) and base64 (RFC 4648), for the handshake only ---- */

#define WS_SHA1_BYTES 20

struct ws_sha1 {
    uint32_t h[5];
    uint64_t len; /* bytes so far */
    uint8_t block[64];
    size_t fill;
};
void ws_sha1_init(struct ws_sha1 *s);
void ws_sha1_update(struct ws_sha1 *s, const void *p, size_t n);
void ws_sha1_final(struct ws_sha1 *s, uint8_t out[WS_SHA1_BYTES]);
/* One-shot digest. */
void ws_sha1(const void *p, size_t n, uint8_t out[WS_SHA1_BYTES]);

/* Writes the padded base64 of p[0..n) and a NUL into out (room for 4 * ((n + 2) / 3) + 1 bytes).
 * Returns the length without the NUL. */
size_t ws_base64_encode(const uint8_t *p, size_t n, char *out);

/* ---- handshake ---- */

#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)), NUL-ended.
 * The key must be the base64 of 16 bytes (24 characters). Returns 0 or ERR_INVALID. */
int ws_accept_key(struct str key, char out[WS_ACCEPT_LEN + 1]);

/* True when the comma-separated header value contains token (case-insensitive, spaces around
 * elements ignored): `Connection: keep-alive, Upgrade` contains "upgrade". */
bool ws_header_has_token(struct str value, const char *token);

/* ---- frames ---- */

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close codes (RFC 6455 §7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_CONTROL_PAYLOAD_MAX 125

struct ws_frame {
    bool fin;
    uint8_t opcode; /* enum ws_opcode */
    bool masked;
    uint8_t mask[4];
    size_t header_len; /* the payload starts here */
    uint64_t payload_len;
};

/* Parses the frame at p[0..n). Returns the whole frame's length (header + payload, all present in
 * p) with *f set, 0 when more bytes are needed, ERR_CORRUPT (reserved bits set, unknown opcode, a
 * control frame fragmented or longer than 125 bytes, a non-minimal or 64-bit length with the top
 * bit set, an unmasked frame when require_mask) or ERR_LIMIT (payload above payload_max). */
int64_t ws_frame_parse(const uint8_t *p, size_t n, bool require_mask, uint64_t payload_max,
                       struct ws_frame *f);

/* XORs p[0..n) with the mask, starting at payload offset `off` (in place: unmasking and masking
 * are the same operation). */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);

/* Appends a server frame (unmasked). Returns 0 or ERR_NOMEM. */
int ws_frame_write(struct buf *out, uint8_t opcode, bool fin, const void *payload, size_t n);
/* Appends a masked frame, as a client sends it (tests, fuzzing). */
int ws_frame_write_masked(struct buf *out, uint8_t opcode, bool fin, const uint8_t mask[4],
                          const void *payload, size_t n);

/* The status code of a close frame's payload: 0 when the payload is empty (no status), or
 * ERR_CORRUPT for a 1-byte payload or a code that must not appear on the wire (RFC 6455 §7.4). */
int ws_close_code(const uint8_t *payload, size_t n);

#endif
