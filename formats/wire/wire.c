/* Decode context for the protobuf wire wrappers: a size- and memory-bounded protobuf-c unpack into
 * an arena, error text, and label formatting for error messages. */
#include "formats/wire/wire.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/assert.h"
#include "base/error.h"

#define WIRE_ARENA_CHUNK (256 * 1024)

static void *arena_pb_alloc(void *data, size_t size)
{
    struct wire_decoder *d = data;
    if (size > d->mem_bytes_max - d->mem_bytes_used) {
        d->mem_exceeded = true;
        return NULL;
    }
    void *p = arena_alloc(&d->arena, size ? size : 1);
    if (p)
        d->mem_bytes_used += size;
    return p;
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

void wire_decoder_init(struct wire_decoder *d, size_t body_bytes_max, size_t mem_bytes_max)
{
    arena_init(&d->arena, WIRE_ARENA_CHUNK);
    d->body_bytes_max = body_bytes_max;
    d->mem_bytes_max = mem_bytes_max;
    d->mem_bytes_used = 0;
    d->mem_exceeded = false;
    d->alloc.alloc = arena_pb_alloc;
    d->alloc.free = arena_pb_free;
    d->alloc.allocator_data = d;
    d->err[0] = 0;
}

void wire_decoder_deinit(struct wire_decoder *d)
{
    arena_deinit(&d->arena);
    d->mem_bytes_used = 0;
}

void wire_decoder_reset(struct wire_decoder *d)
{
    arena_reset(&d->arena);
    d->mem_bytes_used = 0;
    d->mem_exceeded = false;
    d->err[0] = 0;
}

const char *wire_decoder_err(const struct wire_decoder *d)
{
    return d->err;
}

int wire_fail(struct wire_decoder *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    return code;
}

int wire_unpack(struct wire_decoder *d, const ProtobufCMessageDescriptor *desc, const uint8_t *body,
                size_t n, ProtobufCMessage **out)
{
    wire_decoder_reset(d);
    *out = NULL;
    if (n > d->body_bytes_max)
        return wire_fail(d, ERR_LIMIT, "%s body of %zu bytes exceeds the limit of %zu bytes",
                         desc->name, n, d->body_bytes_max);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &d->alloc, n, body);
    if (!m) {
        if (d->mem_exceeded)
            return wire_fail(d, ERR_LIMIT, "%s needs more than %zu bytes of memory to decode",
                             desc->name, d->mem_bytes_max);
        return wire_fail(d, ERR_CORRUPT, "cannot decode %zu bytes as protobuf %s", n, desc->name);
    }
    *out = m;
    return 0;
}

static bool put_raw(char *dst, size_t cap, size_t *len, const char *s, size_t m)
{
    if (cap - *len <= m)
        return false;
    if (m)
        memcpy(dst + *len, s, m);
    *len += m;
    return true;
}

/* Appends s double-quoted, escaping quote, backslash and control bytes; false when full. */
static bool put_quoted(char *dst, size_t cap, size_t *len, struct str s)
{
    static const char hex[] = "0123456789abcdef";
    if (!put_raw(dst, cap, len, "\"", 1))
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        char tmp[4] = {(char)c};
        size_t m = 1;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, m = 2;
        } else if (c == '\n') {
            tmp[0] = '\\', tmp[1] = 'n', m = 2;
        } else if (c < 0x20 || c == 0x7f) {
            tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[c >> 4], tmp[3] = hex[c & 15], m = 4;
        }
        if (!put_raw(dst, cap, len, tmp, m))
            return false;
    }
    return put_raw(dst, cap, len, "\"", 1);
}

char *wire_fmt_labels(char *dst, size_t cap, const struct label *labels, size_t n)
{
    if (cap < 8) {
        if (cap)
            dst[0] = 0;
        return dst;
    }
    size_t len = 0, room = cap - 4; /* keep room for "..." and the NUL */
    bool ok = put_raw(dst, room, &len, "{", 1);
    for (size_t i = 0; ok && i < n; i++) {
        ok = (i == 0 || put_raw(dst, room, &len, ", ", 2)) &&
             put_raw(dst, room, &len, labels[i].name.ptr, labels[i].name.len) &&
             put_raw(dst, room, &len, "=", 1) && put_quoted(dst, room, &len, labels[i].value);
    }
    ok = ok && put_raw(dst, room, &len, "}", 1);
    if (!ok) {
        memcpy(dst + len, "...", 3);
        len += 3;
    }
    dst[len] = 0;
    return dst;
}

char *wire_fmt_quoted(char *dst, size_t cap, struct str s)
{
    if (cap < 8) {
        if (cap)
            dst[0] = 0;
        return dst;
    }
    size_t len = 0;
    if (!put_quoted(dst, cap - 4, &len, s)) {
        memcpy(dst + len, "...", 3);
        len += 3;
    }
    dst[len] = 0;
    return dst;
}

void wire_strip_unknown(ProtobufCMessage *m)
{
    m->n_unknown_fields = 0;
    m->unknown_fields = NULL;
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        char *base = (char *)m;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)(base + f->quantifier_offset);
            ProtobufCMessage **subs = *(ProtobufCMessage ***)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                wire_strip_unknown(subs[k]);
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        ProtobufCMessage *sub = *(ProtobufCMessage **)(base + f->offset);
        if (sub)
            wire_strip_unknown(sub);
    }
}

int wire_pack(const ProtobufCMessage *msg, struct buf *out)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n == 0)
        return 0;
    int rc = buf_reserve(out, n);
    if (rc)
        return rc;
    size_t wrote = protobuf_c_message_pack(msg, out->data + out->len);
    ASSERT(wrote == n);
    out->len += wrote;
    return 0;
}
