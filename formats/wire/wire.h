/* Shared plumbing for the protobuf wire wrappers (rw.h, lokipush.h): a decode context that bounds
 * the body size and the memory protobuf-c may allocate, owns the decoded message (one arena, freed
 * in one go), and keeps a human-readable error for the last failure.
 *
 * Ownership: a message returned by a *_decode call lives in the decoder's arena and stays valid
 * until the next decode, wire_decoder_reset or wire_decoder_deinit on the same decoder.
 * Errors: ERR_LIMIT (body or memory limit), ERR_CORRUPT (not a valid protobuf message),
 * ERR_INVALID (well-formed but violates the protocol contract), ERR_NOMEM. wire_decoder_err()
 * then says why, naming the first offending series or stream. Not thread-safe: one per shard. */
#ifndef STRATA_FORMATS_WIRE_WIRE_H
#define STRATA_FORMATS_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"

#define WIRE_ERR_MAX 320

struct wire_decoder {
    struct arena arena;
    size_t body_bytes_max; /* larger bodies fail with ERR_LIMIT before parsing */
    size_t mem_bytes_max;  /* bytes protobuf-c may allocate for one message */
    size_t mem_bytes_used;
    bool mem_exceeded;
    ProtobufCAllocator alloc;
    char err[WIRE_ERR_MAX];
};

/* A protobuf-c message needs several times its wire size in memory (every submessage is a struct
 * with a 24-byte header); 16x the body plus a floor is a generous default. */
#define WIRE_MEM_PER_BODY_BYTE 16

void wire_decoder_init(struct wire_decoder *d, size_t body_bytes_max, size_t mem_bytes_max);
void wire_decoder_deinit(struct wire_decoder *d);
/* Frees the last decoded message (keeps one arena chunk for reuse) and clears the error. */
void wire_decoder_reset(struct wire_decoder *d);
/* The reason for the last failure, "" after a success. Never NULL. */
const char *wire_decoder_err(const struct wire_decoder *d);

/* Resets the decoder and unpacks body[0..n) as a `desc` message into the arena. Returns 0 or an
 * error code (with the reason in d->err). Used by rw.c and lokipush.c. */
int wire_unpack(struct wire_decoder *d, const ProtobufCMessageDescriptor *desc, const uint8_t *body,
                size_t n, ProtobufCMessage **out);
/* Sets d->err (printf-style, truncated to WIRE_ERR_MAX) and returns `code`. */
int wire_fail(struct wire_decoder *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends `{name="value", ...}` to dst (NUL-terminated, truncated with "..." to fit cap), quoting
 * values Go-style; for error messages. Returns dst. */
char *wire_fmt_labels(char *dst, size_t cap, const struct label *labels, size_t n);

/* Writes s double-quoted (escaping quotes, backslashes and control bytes; truncated with "..." to
 * fit cap, NUL-terminated) into dst; for error messages. Returns dst. */
char *wire_fmt_quoted(char *dst, size_t cap, struct str s);

/* Drops the unknown fields of m and of every submessage (protobuf-c keeps and re-emits them, and
 * its copy of odd encodings such as overlong varints does not always re-parse). For fuzzers and
 * for callers that re-pack decoded messages. */
void wire_strip_unknown(ProtobufCMessage *m);

/* Packs any protobuf-c message, appending to out. Returns 0 or ERR_NOMEM. */
int wire_pack(const ProtobufCMessage *msg, struct buf *out);

static inline struct str wire_str(ProtobufCBinaryData b)
{
    return (struct str){(const char *)b.data, b.len};
}

static inline ProtobufCBinaryData wire_bytes(struct str s)
{
    return (ProtobufCBinaryData){s.len, (uint8_t *)(uintptr_t)s.ptr};
}

#endif
