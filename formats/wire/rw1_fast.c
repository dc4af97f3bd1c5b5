/* A fast path for decoding remote write 1.0 bodies: the shape every scrape-driven sender produces
 * (series of labels and float samples, nothing else) is decoded in two passes straight into the
 * protobuf-c structures rw1_decode returns, in one arena allocation, instead of protobuf-c's
 * generic field-by-field unpacking. Anything else (exemplars, histograms, metadata, unknown fields
 * or wire types, malformed bytes) is left to protobuf-c, which then decides, so both paths give
 * the same message or the same failure. */
#include "formats/wire/rw1_fast.h"

#include <string.h>

#include "base/error.h"

#define FALLBACK 1

struct cur {
    const uint8_t *p, *end;
};

/* Reads a varint; false when truncated or longer than 10 bytes. */
static inline __attribute__((always_inline)) bool get_varint(struct cur *c, uint64_t *v)
{
    if (c->p < c->end && *c->p < 0x80) { /* tags and most lengths: one byte */
        *v = *c->p++;
        return true;
    }
    uint64_t x = 0;
    for (int shift = 0; shift < 70 && c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Reads a tag and, for length-delimited fields, the payload bounds. Returns 0, or FALLBACK for
 * anything the fast path leaves to protobuf-c. */
static inline __attribute__((always_inline)) int get_field(struct cur *c, uint32_t *field,
                                                           uint32_t *wt, struct cur *sub)
{
    uint64_t tag, len;
    if (!get_varint(c, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return FALLBACK;
    *field = (uint32_t)(tag >> 3);
    *wt = (uint32_t)(tag & 7);
    if (*wt == 2) {
        if (!get_varint(c, &len) || len > (uint64_t)(c->end - c->p))
            return FALLBACK;
        *sub = (struct cur){c->p, c->p + len};
        c->p += len;
    }
    return 0;
}

/* ---- pass 1: shape and sizes ---- */

struct sizes {
    size_t series, labels, samples, bytes;
};

static int scan_label(struct cur c, struct sizes *z)
{
    size_t name = 0, value = 0;
    while (c.p < c.end) {
        uint32_t f = 0, wt = 0;
        struct cur s = {NULL, NULL};
        if (get_field(&c, &f, &wt, &s) || wt != 2 || (f != 1 && f != 2))
            return FALLBACK;
        if (f == 1)
            name = (size_t)(s.end - s.p); /* a repeated field: the last one wins */
        else
            value = (size_t)(s.end - s.p);
    }
    z->bytes += name + value;
    return 0;
}

static int scan_sample(struct cur c)
{
    while (c.p < c.end) {
        uint64_t tag, v;
        if (!get_varint(&c, &tag))
            return FALLBACK;
        if (tag == (1 << 3 | 1)) { /* value: fixed64 */
            if (c.end - c.p < 8)
                return FALLBACK;
            c.p += 8;
        } else if (tag == (2 << 3 | 0)) { /* timestamp: varint */
            if (!get_varint(&c, &v))
                return FALLBACK;
        } else {
            return FALLBACK;
        }
    }
    return 0;
}

static int scan_series(struct cur c, struct sizes *z)
{
    while (c.p < c.end) {
        uint32_t f = 0, wt = 0;
        struct cur s = {NULL, NULL};
        if (get_field(&c, &f, &wt, &s) || wt != 2)
            return FALLBACK;
        if (f == 1) {
            z->labels++;
            if (scan_label(s, z))
                return FALLBACK;
        } else if (f == 2) {
            z->samples++;
            if (scan_sample(s))
                return FALLBACK;
        } else {
            return FALLBACK; /* exemplars, histograms, unknown */
        }
    }
    return 0;
}

static int scan(struct cur c, struct sizes *z)
{
    while (c.p < c.end) {
        uint32_t f = 0, wt = 0;
        struct cur s = {NULL, NULL};
        if (get_field(&c, &f, &wt, &s) || wt != 2 || f != 1)
            return FALLBACK; /* metadata, unknown */
        z->series++;
        if (scan_series(s, z))
            return FALLBACK;
    }
    return 0;
}

/* ---- pass 2: fill (the bytes are known to be well-formed) ---- */

struct mem {
    Prometheus__TimeSeries *ts;
    Prometheus__TimeSeries **ts_ptr;
    Prometheus__Label *lb;
    Prometheus__Label **lb_ptr;
    Prometheus__Sample *sm;
    Prometheus__Sample **sm_ptr;
    uint8_t *bytes;
};

static ProtobufCBinaryData copy_bytes(struct mem *m, struct cur s)
{
    size_t n = (size_t)(s.end - s.p);
    ProtobufCBinaryData b = {n, NULL};
    if (n) {
        memcpy(m->bytes, s.p, n);
        b.data = m->bytes;
        m->bytes += n;
    }
    return b;
}

static void fill_label(struct mem *m, struct cur c, Prometheus__Label *l)
{
    prometheus__label__init(l);
    struct cur name = {NULL, NULL}, value = {NULL, NULL}; /* the last occurrence wins */
    while (c.p < c.end) {
        uint32_t f = 0, wt = 0;
        struct cur s = {NULL, NULL};
        (void)get_field(&c, &f, &wt, &s);
        if (f == 1)
            name = s;
        else
            value = s;
    }
    l->name = copy_bytes(m, name);
    l->value = copy_bytes(m, value);
}

static void fill_sample(struct cur c, Prometheus__Sample *smp)
{
    prometheus__sample__init(smp);
    while (c.p < c.end) {
        uint64_t tag = 0, v = 0;
        (void)get_varint(&c, &tag);
        if (tag == (1 << 3 | 1)) {
            uint64_t bits = 0;
            for (int i = 7; i >= 0; i--)
                bits = bits << 8 | c.p[i];
            memcpy(&smp->value, &bits, sizeof bits);
            c.p += 8;
        } else {
            (void)get_varint(&c, &v);
            smp->timestamp = (int64_t)v;
        }
    }
}

static void fill_series(struct mem *m, struct cur c, Prometheus__TimeSeries *ts)
{
    prometheus__time_series__init(ts);
    ts->labels = m->lb_ptr;
    ts->samples = m->sm_ptr;
    while (c.p < c.end) {
        uint32_t f = 0, wt = 0;
        struct cur s = {NULL, NULL};
        (void)get_field(&c, &f, &wt, &s);
        if (f == 1) {
            Prometheus__Label *l = m->lb++;
            fill_label(m, s, l);
            *m->lb_ptr++ = l;
            ts->n_labels++;
        } else {
            Prometheus__Sample *smp = m->sm++;
            fill_sample(s, smp);
            *m->sm_ptr++ = smp;
            ts->n_samples++;
        }
    }
    if (!ts->n_labels)
        ts->labels = NULL;
    if (!ts->n_samples)
        ts->samples = NULL;
}

int rw1_unpack_fast(struct wire_decoder *d, const uint8_t *body, size_t n, rw1_request **out)
{
    *out = NULL;
    struct cur c = {body, body + n};
    struct sizes z = {0};
    if (scan(c, &z))
        return FALLBACK;
    size_t need = sizeof(rw1_request) +
                  z.series * (sizeof(Prometheus__TimeSeries) + sizeof(void *)) +
                  z.labels * (sizeof(Prometheus__Label) + sizeof(void *)) +
                  z.samples * (sizeof(Prometheus__Sample) + sizeof(void *)) + z.bytes;
    if (need > d->mem_bytes_max - d->mem_bytes_used)
        return FALLBACK; /* protobuf-c reports the limit */
    uint8_t *p = arena_alloc(&d->arena, need);
    if (!p)
        return ERR_NOMEM;
    d->mem_bytes_used += need;
    rw1_request *req = (rw1_request *)p;
    p += sizeof *req;
    struct mem m;
    m.ts = (Prometheus__TimeSeries *)p, p += z.series * sizeof *m.ts;
    m.lb = (Prometheus__Label *)p, p += z.labels * sizeof *m.lb;
    m.sm = (Prometheus__Sample *)p, p += z.samples * sizeof *m.sm;
    m.ts_ptr = (Prometheus__TimeSeries **)p, p += z.series * sizeof *m.ts_ptr;
    m.lb_ptr = (Prometheus__Label **)p, p += z.labels * sizeof *m.lb_ptr;
    m.sm_ptr = (Prometheus__Sample **)p, p += z.samples * sizeof *m.sm_ptr;
    m.bytes = p;
    prometheus__write_request__init(req);
    req->n_timeseries = z.series;
    req->timeseries = z.series ? m.ts_ptr : NULL;
    while (c.p < c.end) {
        uint32_t f = 0, wt = 0;
        struct cur s = {NULL, NULL};
        (void)get_field(&c, &f, &wt, &s);
        Prometheus__TimeSeries *ts = m.ts++;
        fill_series(&m, s, ts);
        *m.ts_ptr++ = ts;
    }
    *out = req;
    return 0;
}
